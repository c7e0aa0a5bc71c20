() => {
    let language = 'en';  // the interface's (window.bmxInterfaceLanguage)
    // Gradio labels each chat message with its raw content for screen readers; ours is HTML
    // (ui/bidi.py), so the label is replaced by the text a sighted reader sees.
    const relabel = () => {
        for (const message of document.querySelectorAll(':is(#chatbot, #arena-a, #arena-b) :is([data-testid="user"], [data-testid="bot"])')) {
            const body = message.querySelector('.bmx-msg');
            if (!body) continue;
            const english = message.dataset.testid === 'user' ? 'user' : 'assistant';
            const role = (language === 'ar' && (window.bmxGradioTexts || {})[english]) || english;
            const label = `${role}: ${body.innerText.trim()}`;
            if (message.getAttribute('aria-label') !== label) message.setAttribute('aria-label', label);
        }
    };
    // Message times come in UTC (ui/transcript.py); each browser shows its own local time.
    const localTimes = () => {
        // In the interface language, not the browser's: an Arabic interface reads "02:15 ص"
        // (Latin digits), never "AM 02:15" (issue 27); redone when the language changes.
        const locale = language === 'ar' ? 'ar-u-nu-latn' : 'en-GB';
        for (const stamp of document.querySelectorAll(`time[datetime]:not([data-local="${language}"])`)) {
            const at = new Date(stamp.getAttribute('datetime'));
            if (isNaN(at)) continue;
            stamp.textContent = at.toLocaleTimeString(locale, {hour: '2-digit', minute: '2-digit', hour12: language === 'ar'});
            stamp.title = at.toLocaleString(locale);
            stamp.dataset.local = language;
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
            button.dataset.copied = 'yes';
        } catch (error) { button.dataset.copied = 'no'; }
        // The icon (ui/icons.py) is coloured for a moment: copied, or not (assets/chat.css).
        setTimeout(() => { delete button.dataset.copied; }, 1500);
    });
    // Gradio's own texts in the interface language: its translations follow the browser's
    // language, so the interface's choice switches them (its locale store, which also sets
    // <html lang>); the few it writes in English whatever the locale are relabelled from
    // window.bmxGradioTexts (English -> Arabic, from ui/strings.py: ui/labels.py), and those
    // that name a widget ("range slider for Top-p") from window.bmxGradioPatterns.
    const ATTRIBUTES = ['title', 'aria-label', 'placeholder'];
    const patterns = Object.entries(window.bmxGradioPatterns || {}).map(([source, arabic]) => [new RegExp(source), arabic]);
    const translated = (english) => {
        const exact = (window.bmxGradioTexts || {})[english];
        if (exact) return exact;
        const found = patterns.find(([pattern]) => pattern.test(english));
        return found ? english.replace(found[0], found[1]) : null;
    };
    const gradioTexts = () => {
        for (const attribute of ATTRIBUTES) {
            // The English is kept beside what was written over it; a text Gradio writes anew
            // (a widget relabelled) is the new English.
            const kept = `data-bmx-${attribute}`, shown = `data-bmx-shown-${attribute}`;
            for (const element of document.querySelectorAll(`[${attribute}]`)) {
                if (element.closest('.bmx-msg')) continue;
                const current = element.getAttribute(attribute);
                const english = element.hasAttribute(kept) && current === element.getAttribute(shown)
                    ? element.getAttribute(kept) : current;
                const arabic = translated(english);
                const wanted = language === 'ar' && arabic ? arabic : english;
                if (arabic) { element.setAttribute(kept, english); element.setAttribute(shown, wanted); }
                if (current !== wanted) element.setAttribute(attribute, wanted);
            }
        }
        // Screen-reader-only texts too: Gradio's status announcer says "common.complete"
        // (a key its Arabic locale lacks) once a step ends.
        for (const element of document.querySelectorAll('.sr-only')) {
            if (element.closest('.bmx-msg') || element.children.length) continue;
            const current = element.textContent.trim();
            const english = 'bmxText' in element.dataset && current === element.dataset.bmxShownText
                ? element.dataset.bmxText : current;
            const arabic = translated(english);
            if (!arabic) continue;
            const wanted = language === 'ar' ? arabic : english;
            element.dataset.bmxText = english;
            element.dataset.bmxShownText = wanted;
            if (current !== wanted) element.textContent = wanted;
        }
    };
    // A toast's title: Gradio 6 writes its kind ("Warning", "Info", "Error"), whatever title
    // gr.Warning(title=...) sent; it becomes the interface language's (window.bmxToastTitles,
    // from ui/strings.py: ui/labels.py TOAST_TITLES).
    const toastTitles = () => {
        const titles = (window.bmxToastTitles || {})[language] || {};
        for (const element of document.querySelectorAll('.toast-title')) {
            const kind = Object.keys(titles).find(name => element.classList.contains(name));
            const node = [...element.childNodes].find(child => child.nodeType === Node.TEXT_NODE);
            if (!kind || !node) continue;
            const wanted = `${titles[kind]} `;
            if (node.nodeValue !== wanted) node.nodeValue = wanted;
        }
    };
    window.bmxInterfaceLanguage = async (lang) => {
        language = lang;
        relabel();
        localTimes();
        gradioTexts();
        toastTitles();
        const core = performance.getEntriesByType('resource').map(entry => entry.name)
            .find(name => /\/assets\/core-[\w-]+\.js$/.test(name));
        try { if (core) (await import(core)).changeLocale(lang); } catch (error) { console.warn(error); }
    };
    new MutationObserver(() => { relabel(); localTimes(); gradioTexts(); toastTitles(); }).observe(document.body, {
        childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ['aria-label', 'title', 'placeholder'],
    });
}
