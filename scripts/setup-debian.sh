#!/bin/sh
# Every Debian package the project uses, installed when missing. `make test`, `make demo`
# and `make firmware` run it first, so a fresh machine (CI) gets what the tests call; a
# package installed by hand is not needed. tests/test_setup.py checks that every program
# the code runs comes from a package listed here.
#
#   chromium             HTML reports opened and printed headless (tests/test_report_html.py),
#                        and printed to PDF (`dbch check --pdf`)
#   poppler-utils        pdftotext, pdfinfo: the tests read the printed PDF (its pages, size)
#   gcc-arm-none-eabi    the Cortex-M toolchain: board images and QEMU twins (make firmware)
#   binutils-arm-none-eabi    its arm-none-eabi-size: the image's section sizes
#   libnewlib-arm-none-eabi   its C library
#   qemu-system-arm      runs the 32-bit twins (Cortex-M3 MPS2-AN385)
#   ser2net              serves boards' ports over TCP: labgrid exporters, `dbch serve-port`
#   make, git            the MicroPython build (make) and its version string (git describe)
#   systemd              systemd-analyze: tests/test_kit.py verifies the field kit's unit
#                        (docs/kit/dbch-record.service)
set -eu
PACKAGES="chromium poppler-utils gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm ser2net make git systemd"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
command -v apt-get >/dev/null 2>&1 || { echo "setup-debian: no apt-get; install:$missing" >&2; exit 1; }
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo -n"
export DEBIAN_FRONTEND=noninteractive
echo "setup-debian: installing$missing (apt; a few minutes the first time)" >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 || {
  $SUDO apt-get update -q >/dev/null 2>&1
  $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
}
