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
    // Message times come in UTC (ui/transcript.py); each browser shows its own local time.
    const localTimes = () => {
        for (const stamp of document.querySelectorAll('time[datetime]:not([data-local])')) {
            const at = new Date(stamp.getAttribute('datetime'));
            if (isNaN(at)) continue;
            stamp.textContent = at.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
            stamp.title = at.toLocaleString();
            stamp.dataset.local = '1';
        }
    };
    // The copy button on a reply copies the text a reader sees (not the message's HTML).
    document.addEventListener('click', async (event) => {
        const button = event.target.closest('.bmx-copy');
        if (!button) return;
        const bubble = button.closest('[data-testid="bot"]') || button.parentElement.parentElement;
        const body = bubble && bubble.querySelector('.bmx-msg');
        if (!body) return;
        try {
            await navigator.clipboard.writeText(body.innerText.trim());
            button.textContent = '✓';
            setTimeout(() => { button.textContent = '⧉'; }, 1500);
        } catch (error) { button.textContent = '✗'; }
    });
    new MutationObserver(() => { relabel(); localTimes(); }).observe(document.body, {
        childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ['aria-label'],
    });
}
