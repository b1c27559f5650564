// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at https://mozilla.org/MPL/2.0/.

(() => {
    const darkThemes = ['ayu', 'navy', 'coal'];
    const lightThemes = ['light', 'rust'];

    const classList = document.getElementsByTagName('html')[0].classList;

    let lastThemeWasLight = true;
    for (const cssClass of classList) {
        if (darkThemes.includes(cssClass)) {
            lastThemeWasLight = false;
            break;
        }
    }

    const theme = lastThemeWasLight ? 'default' : 'dark';
    // boxcar: keep every diagram at its natural size in mdBook's 750 px column.
    // - useMaxWidth (mermaid's default) only scales a diagram down when it is wider than the
    //   column, so the diagrams themselves are kept narrow enough (scripts/check-book.sh
    //   renders them; a scale far below 1 means ~7 px text).
    // - Sequence diagrams wrap long messages instead of growing sideways.
    // - Node labels wrap at 400 px, not 200; subgraph titles still wrap at 200 px, so they
    //   get room below them instead of running into the first node.
    mermaid.initialize({
        startOnLoad: true,
        theme,
        fontSize: 16,
        flowchart: { useMaxWidth: true, wrappingWidth: 400, subGraphTitleMargin: { top: 4, bottom: 28 } },
        sequence: { useMaxWidth: true, wrap: true, width: 170, actorMargin: 90 },
    });

    // Simplest way to make mermaid re-render the diagrams in the new theme is via refreshing the page

    for (const darkTheme of darkThemes) {
        document.getElementById('mdbook-theme-' + darkTheme).addEventListener('click', () => {
            if (lastThemeWasLight) {
                window.location.reload();
            }
        });
    }

    for (const lightTheme of lightThemes) {
        document.getElementById('mdbook-theme-' + lightTheme).addEventListener('click', () => {
            if (!lastThemeWasLight) {
                window.location.reload();
            }
        });
    }
})();
