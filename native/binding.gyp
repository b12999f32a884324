# Built by scripts/build-native.js, which passes (as -D gyp variables):
#   llama_src:  the llama.cpp checkout from node-llama-cpp's bundle (headers only are used)
#   bins_dir:   the prebuilt node-llama-cpp binaries for this platform (libggml*, libllama)
#   bins_rpath: bins_dir relative to build/Release, so the addon finds the libraries at run
#               time wherever the repository (or the unpacked app) lives (Linux, macOS).
#   ggml_base_lib, ggml_lib, llama_lib: the file names of the three libraries to link: in
#               bins_dir (Linux, macOS; they carry llama.cpp's release, e.g. libggml.v0.5.0.so,
#               see scripts/native-platform.js), or on Windows their import libraries
#               (ggml.v0.5.0.lib), which build-native.js makes from the DLLs in import_libs_dir.
{
  "variables": {
    "llama_src%": "",
    "bins_dir%": "",
    "bins_rpath%": "",
    "ggml_base_lib%": "",
    "ggml_lib%": "",
    "llama_lib%": "",
    "import_libs_dir%": "",
  },
  "targets": [
    {
      "target_name": "paramkb_trainer",
      "sources": [
        "src/addon.cpp",
        "src/adapter_merge.cpp",
        "src/adapter_read.cpp",
        "src/adapter_write.cpp",
        "src/backward_portable.cpp",
        "src/backward_weights.cpp",
        "src/backend_cpu.cpp",
        "src/device.cpp",
        "src/file_utf8.cpp",
        "src/forward_copies.cpp",
        "src/forward_graph.cpp",
        "src/graph_edit.cpp",
        "src/lora.cpp",
        "src/model_load.cpp",
        "src/model_quantize.cpp",
        "src/thread_class.cpp",
        "src/trainer.cpp",
        "src/weights_repack.cpp",
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<(llama_src)/ggml/include",
        "<(llama_src)/ggml/src",
        "<(llama_src)/include",
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "conditions": [
        ["OS=='linux'", {
          "libraries": [
            "-L<(bins_dir)",
            "-l:<(ggml_base_lib)",
            "-l:<(ggml_lib)",
            "-l:<(llama_lib)",
            "-Wl,-rpath,'$$ORIGIN/<(bins_rpath)'",
          ],
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            # node-llama-cpp's dylibs are built for macOS 14 (LC_BUILD_VERSION minos 14.0).
            "MACOSX_DEPLOYMENT_TARGET": "14.0",
            # The dylibs' install names are @rpath/<file>, so an rpath relative to the addon finds them.
            "OTHER_LDFLAGS": [
              "<(bins_dir)/<(ggml_base_lib)",
              "<(bins_dir)/<(ggml_lib)",
              "<(bins_dir)/<(llama_lib)",
              "-Wl,-rpath,@loader_path/<(bins_rpath)",
            ],
          },
        }],
        ["OS=='win'", {
          "msvs_settings": {
            "VCCLCompilerTool": {"ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17"]},
          },
          # The DLLs are copied beside the addon after the build (Windows has no rpath).
          "libraries": ["<(import_libs_dir)/<(ggml_base_lib)", "<(import_libs_dir)/<(ggml_lib)", "<(import_libs_dir)/<(llama_lib)"],
        }],
      ],
    },
  ],
}
