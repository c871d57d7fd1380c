#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the browser tests (Playwright drives it with
# executable_path; Playwright's own browser download needs the internet). Prints the browser's path.
set -euo pipefail
BROWSER=${STACKWRIGHT_TEST_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$BROWSER" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium from Debian packages for the browser tests..." >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2
  else
    echo "The browser tests need Chromium at $BROWSER: run \`sudo apt-get install -y chromium\`" \
      "or set STACKWRIGHT_TEST_CHROMIUM to a Chromium binary." >&2
    exit 1
  fi
fi
echo "$BROWSER"
