#!/usr/bin/env bash
# The dashboard's end-to-end tests drive Debian's chromium through Playwright.
# Install it when missing and we may (root with apt-get); otherwise say why it is absent.
set -u
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian chromium for the browser tests..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  if apt-get install -y -qq chromium fonts-noto-cjk >/dev/null 2>&1; then
    echo "chromium installed"; exit 0
  fi
fi
echo "chromium is not installed (/usr/bin/chromium): install Debian's chromium package to run" \
     "the browser tests; without it they fail in CI and are skipped elsewhere." >&2
exit 0
