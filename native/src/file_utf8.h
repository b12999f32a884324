// Files named by UTF-8 paths on every platform. Node hands the addon UTF-8 strings; on Windows,
// fopen, remove and std::filesystem::path(std::string) read narrow strings in the ANSI code
// page instead, so a path outside it (a data folder under C:\Users\Zoë) would not open.
// ggml's own file functions (gguf_init_from_file, gguf_write_to_file) already take UTF-8.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>

// fopen for a UTF-8 path; nullptr on failure, like fopen.
FILE * file_open(const std::string & path, const char * mode);

// The std::filesystem path of a UTF-8 path.
std::filesystem::path file_path(const std::string & path);

// Removes a file if it exists; failures are ignored (for temporary files).
void file_remove(const std::string & path);
