#!/bin/sh
# The HTML report test opens the report in headless Chromium (Debian's package). On a
# machine with apt, install it if missing and print 1 (the test must then find it); with no
# apt (not this project's CI), print 0 and the test skips.
command -v chromium >/dev/null 2>&1 && { echo 1; exit 0; }
command -v apt-get >/dev/null 2>&1 || { echo 0; exit 0; }
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo -n"
export DEBIAN_FRONTEND=noninteractive
echo "installing chromium (apt) for the HTML report test" >&2
$SUDO apt-get install -y -q chromium >/dev/null 2>&1 \
  || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q chromium >/dev/null 2>&1; } \
  || echo "could not install chromium with apt" >&2
echo 1
