// The scheduling class of the encoder's threads. A niced thread still gets its share of a core
// that an answer's thread wants, and keeps it until its time slice ends: an answer whose ggml
// threads meet at a barrier after every node then waits on the one that was preempted. Linux's
// idle class gives way at once to any thread of a normal class that wakes, and runs only on a
// core that nothing else wants.
#pragma once

#include <cstdint>

// Moves the thread `tid` of this process (Linux's thread id, as listed in /proc/self/task) to the
// idle scheduling class; threads it creates afterwards inherit the class. Returns false where
// the system has no such class (macOS, Windows) or refused.
bool thread_set_idle_class(int64_t tid);
