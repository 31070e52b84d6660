// libSluicePreload.so: loaded with LD_PRELOAD by `sluice exec` into Debian's ip/tc/bridge. It has
// no API of its own: it interposes the socket calls rtnetlink clients make (see preload.c).
#ifndef SLUICE_PRELOAD_H
#define SLUICE_PRELOAD_H
#endif
