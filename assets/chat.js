() => {
    // Gradio labels each chat message with its raw content for screen readers; ours is HTML
    // (ui/bidi.py), so the label is replaced by the text a sighted reader sees.
    const relabel = () => {
        for (const message of document.querySelectorAll('#chatbot [data-testid="user"], #chatbot [data-testid="bot"]')) {
            const body = message.querySelector('.bmx-msg');
            if (!body) continue;
            const role = message.dataset.testid === 'user' ? 'user' : 'assistant';
            const label = `${role}: ${body.innerText.trim()}`;
            if (message.getAttribute('aria-label') !== label) message.setAttribute('aria-label', label);
        }
    };
    new MutationObserver(relabel).observe(document.body, {
        childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ['aria-label'],
    });
}
