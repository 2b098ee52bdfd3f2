{
  "targets": [
    {
      "target_name": "ttma_media",
      "sources": [
        "src/addon.c",
        "src/g711.c",
        "src/polyphase.c",
        "src/registry.c",
        "src/opus_napi.c"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS"
      ],
      "cflags_c": [
        "-std=c11",
        "-O3",
        "-Wall",
        "-Wextra",
        "-Wshadow",
        "-Wno-unused-parameter",
        "-ffp-contract=off",
        "-fvisibility=hidden"
      ],
      "libraries": [
        "-lm"
      ],
      "xcode_settings": {
        "GCC_C_LANGUAGE_STANDARD": "c11",
        "GCC_OPTIMIZATION_LEVEL": "3",
        "OTHER_CFLAGS": [
          "-Wall",
          "-Wextra",
          "-Wshadow",
          "-ffp-contract=off"
        ]
      },
      "dependencies": [
        "../node_modules/@discordjs/opus/deps/binding.gyp:libopus"
      ],
      "include_dirs": [
        "../node_modules/@discordjs/opus/deps/opus/include"
      ]
    }
  ]
}
