# Freezes the agent into a MicroPython firmware image (micropython-lib style), for boards
# whose filesystem cannot hold it (NUCLEO_WL55: 24 KB). Build MicroPython with
#   make -C ports/stm32 BOARD=NUCLEO_WL55 FROZEN_MANIFEST=/path/to/firmware/manifest.py
# then `dbch deploy` writes only main.py, boot.py and the board module.
metadata(description="DBCH configuration agent", version="0.1.0")

package("dbchagent")
package("subghz")
