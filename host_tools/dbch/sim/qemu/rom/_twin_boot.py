# Run by the QEMU twin's C start-up hook (modtwin.c), in __main__: start the twin ROM.
import twinrom

twinrom.start()
del twinrom
