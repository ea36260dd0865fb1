#!/usr/bin/env bash
# Installs what `make serve` and `make test` need, and nothing that is already there.
# Idempotent; takes a second or two when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

SUDO=""
if [ "$(id -u)" -ne 0 ] && have sudo; then SUDO="sudo"; fi
can_apt() { have apt-get && { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; }; }
apt_updated=""
apt_install() {
  if ! can_apt; then
    say "missing: $* — please install it (Debian/Ubuntu: apt-get install $*)"
    exit 1
  fi
  if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  say "installing $* with apt"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

# C toolchain and curl, used by a few Rust build scripts and by rustup's installer.
missing=()
have cc || missing+=(build-essential)
have curl || missing+=(curl ca-certificates)
have python3 || missing+=(python3)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

# Rust, through rustup (Debian's rustc is too old for this crate).
if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi
if ! have cargo; then
  say "installing Rust with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
  . "$HOME/.cargo/env"
fi
if have rustup; then
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  # The threaded browser build needs wasm atomics, which only a nightly compiler's rebuilt
  # standard library has (-Z build-std). Pinned, like every other tool here.
  nightly=$(awk '/^NIGHTLY := / { print $3 }' Makefile)
  if ! rustup run "$nightly" rustc --version >/dev/null 2>&1 \
    || ! rustup component list --installed --toolchain "$nightly" 2>/dev/null | grep -q '^rust-src'; then
    say "installing Rust $nightly with rust-src (for the threaded browser build)"
    rustup toolchain install "$nightly" --profile minimal --component rust-src
  fi
fi

# wasm-bindgen CLI at exactly the version Cargo.lock pins (the generated glue must match).
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
got=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$got" != "$want" ]; then
  say "installing wasm-bindgen-cli $want (found: ${got:-none}); this takes a few minutes once"
  cargo install wasm-bindgen-cli --version "$want" --force
fi

# Headless Chromium and its WebDriver, for the browser tests.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

# Node.js for the static server and Playwright.
if ! have node || ! have npm; then apt_install nodejs npm; fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing JavaScript test tools (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
say "ready"
