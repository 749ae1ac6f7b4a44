// hiredis from Debian's libhiredis-dev: the daemon's Redis client (wrapped in Swift so that its
// blocking calls run on a thread pool, never on an event loop or the concurrency pool).
#include <hiredis/hiredis.h>
