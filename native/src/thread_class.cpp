#include "thread_class.h"

#ifdef __linux__
#include <sched.h>
#include <sys/types.h>
#endif

bool thread_set_idle_class(int64_t tid) {
#ifdef __linux__
    // SCHED_IDLE takes no static priority; the nice value stays as set (it no longer matters).
    sched_param param{};
    param.sched_priority = 0;
    return sched_setscheduler((pid_t) tid, SCHED_IDLE, &param) == 0;
#else
    (void) tid;
    return false;
#endif
}
