#!/usr/bin/env bash
# Build the book and check it the way a reader meets it:
#   - no literal `{{#include` in the HTML (an include mdBook could not resolve),
#   - every internal link leads to a page that exists, and its #anchor to an id on that page,
#   - every mermaid diagram renders in a real browser (headless chromium): no "Syntax error in
#     text", no "Unsupported markdown", and no diagram left as source text.
# Prints one ✗ line per problem and exits 1 if there is any. Needs mdbook and mdbook-mermaid
# (./setup.sh installs them); installs chromium with apt-get when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f "$HOME/.cargo/env" ]; then
    # shellcheck source=/dev/null
    . "$HOME/.cargo/env"
fi

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
problems=0
bad() {
    echo "check-book: ✗ $*"
    problems=$((problems + 1))
}

echo "check-book: building the book"
mdbook build book --dest-dir "$out/html" >"$out/build.log" 2>&1 || {
    cat "$out/build.log"
    echo "check-book: ✗ mdbook build failed"
    exit 1
}
# mdBook reports a missing include file as an error but still writes the page.
if grep -E '(^|[[:space:]])ERROR ' "$out/build.log"; then
    bad "mdbook build reported errors (above)"
fi
html="$out/html"
pages=("$html"/*.html)

echo "check-book: looking for unresolved includes"
while IFS= read -r page; do
    bad "${page#"$html"/}: a literal {{#include is in the HTML (a missing file: is the path right?)"
done < <(grep -lF '{{#include' "${pages[@]}" || true)
# An include whose anchor does not exist gives no error, only an empty code block.
for page in "${pages[@]}"; do
    if tr '\n' ' ' <"$page" | grep -q '<code class="[^"]*">[[:space:]]*</code>'; then
        bad "${page#"$html"/}: an empty code block (an include whose ANCHOR is missing?)"
    fi
done

echo "check-book: checking internal links"
links=0
for page in "${pages[@]}"; do
    name="${page#"$html"/}"
    while IFS= read -r href; do
        case "$href" in
            '' | '#' | *:*) continue ;; # external (https:, mailto:, …) or the top of the page
        esac
        links=$((links + 1))
        file="${href%%#*}"
        anchor=""
        if [ "$file" != "$href" ]; then anchor="${href#*#}"; fi
        if [ -z "$file" ]; then
            target="$page"
        else
            target="$(realpath -m "$(dirname "$page")/${file%%\?*}")"
            if [ -d "$target" ]; then target="$target/index.html"; fi
        fi
        if [ ! -f "$target" ]; then
            bad "$name: link to $href: no such page"
        elif [ -n "$anchor" ] && ! grep -qF "id=\"$anchor\"" "$target"; then
            bad "$name: link to $href: no id \"$anchor\" on ${target#"$html"/}"
        fi
    done < <(grep -o 'href="[^"]*"' "$page" | sed -e 's/^href="//' -e 's/"$//' | sort -u)
done

echo "  $links internal links (page and anchor) in ${#pages[@]} pages"

echo "check-book: rendering the diagrams in headless chromium"
if ! command -v chromium >/dev/null; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
profile="$out/chromium-profile"
for page in "${pages[@]}"; do
    name="${page#"$html"/}"
    # print.html repeats every chapter's diagrams; the chapter pages are checked one by one.
    [ "$name" = print.html ] && continue
    diagrams="$(grep -c '<pre class="mermaid"' "$page" || true)"
    [ "$diagrams" -gt 0 ] || continue
    # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --window-size=1280,2000 --virtual-time-budget=10000 \
        --dump-dom "file://$page" >"$out/dom.html" 2>"$out/chromium.log" || {
        bad "$name: chromium could not load the page: $(tail -n 3 "$out/chromium.log")"
        continue
    }
    rendered="$(grep -o '<pre class="mermaid"[^>]*data-processed="true"' "$out/dom.html" | wc -l)"
    if grep -q 'Syntax error in text' "$out/dom.html"; then
        bad "$name: a mermaid diagram does not parse (mermaid drew its \"Syntax error in text\")"
    fi
    if grep -q 'Unsupported markdown' "$out/dom.html"; then
        bad "$name: a mermaid label reads as markdown: \"$(grep -o 'Unsupported markdown[^<]*' "$out/dom.html" | head -n 1)\" (a label starting \"1. \" is a list)"
    fi
    if [ "$rendered" -ne "$diagrams" ]; then
        bad "$name: $rendered of $diagrams mermaid diagrams rendered (is mermaid.min.js loaded?)"
    fi
    echo "  $name: $rendered of $diagrams diagrams rendered"
done

echo "check-book: checking that the starter panics the pages quote point at a todo!()"
# A page shows what the untouched starter prints; when a TODO's text changes, the line moves.
while IFS= read -r quoted; do
    file="${quoted%%:*}"
    line="${quoted#*:}"
    line="${line%%:*}"
    if ! sed -n "${line}p" "$file" 2>/dev/null | grep -q 'todo!'; then
        bad "a page quotes a panic at $file:$line, which is not a todo!() of the starter (regenerate the sample)"
    fi
done < <(grep -oh 'panicked at chapters/[^ :]*:[0-9]*' book/src/*.md | sed 's/^panicked at //' | sort -u)

if [ "$problems" -gt 0 ]; then
    echo "check-book: ✗ $problems problem(s) in the book"
    exit 1
fi
echo "check-book: ✓ the book builds, its includes resolve, its links lead somewhere, its diagrams render"
