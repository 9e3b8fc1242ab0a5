{
  "targets": [
    {
      "target_name": "direct_aio",
      "sources": [
        "src/addon.cc",
        "src/ring_wrap.cc",
        "src/completion_poller.cc",
        "src/uring_ring.cc",
        "src/aio_ring.cc",
        "src/probe.cc",
        "src/space.cc",
        "src/aligned_alloc.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED"
      ],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-fno-exceptions"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }],
        ["'<!(echo $DIRECT_AIO_SANITIZE)'=='1'", {
          "cflags_cc": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-O1", "-g"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ]
}
