// Errors the trainer reports to JavaScript. Every input is validated before it reaches ggml,
// because a failed GGML_ASSERT aborts the whole process; a trainer_error is what the checks
// throw instead. The code is stable and the TypeScript side maps it to an error class.
#pragma once

#include <stdexcept>
#include <string>

// Codes shared with electron/core/trainer/trainerErrors.ts.
#define TRAINER_ERR_UNSUPPORTED_MODEL "unsupported-model"
#define TRAINER_ERR_INVALID_INPUT     "invalid-input"
#define TRAINER_ERR_OUT_OF_MEMORY     "out-of-memory"
#define TRAINER_ERR_CANCELLED         "cancelled"
#define TRAINER_ERR_IO                "io-error"
#define TRAINER_ERR_DEVICE            "device-error"  // a GPU failed (memory, driver): the CPU can take over
#define TRAINER_ERR_INTERNAL          "internal"

struct trainer_error : std::runtime_error {
    std::string code;
    trainer_error(const char * code, const std::string & message) : std::runtime_error(message), code(code) {}
};
