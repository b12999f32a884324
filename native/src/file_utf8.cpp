#include "file_utf8.h"

#include <system_error>

std::filesystem::path file_path(const std::string & path) {
    // u8path is C++17's way to say "these bytes are UTF-8" (deprecated in C++20 for char8_t).
    return std::filesystem::u8path(path);
}

FILE * file_open(const std::string & path, const char * mode) {
#if defined(_WIN32)
    const std::wstring wide_mode(mode, mode + std::char_traits<char>::length(mode));
    return _wfopen(file_path(path).c_str(), wide_mode.c_str());
#else
    return std::fopen(path.c_str(), mode);
#endif
}

void file_remove(const std::string & path) {
    std::error_code ec;
    std::filesystem::remove(file_path(path), ec);
}
