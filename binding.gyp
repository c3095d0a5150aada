{
  "targets": [
    {
      "target_name": "pi_controller",
      "sources": [
        "native/addon.cc",
        "native/common/mapped_region.cc",
        "native/common/regs.cc",
        "native/soc/gpio_soc.cc",
        "native/soc/bcm283x.cc",
        "native/soc/rp1.cc",
        "native/soc/model.cc",
        "native/soc/model_bcm.cc",
        "native/soc/model_rp1.cc",
        "native/bindings/errors.cc",
        "native/bindings/gpio.cc",
        "native/kernel/errors.cc",
        "native/kernel/kernel.cc",
        "native/kernel/i2c_dev.cc",
        "native/kernel/gpiochip.cc",
        "native/bsc/bsc.cc",
        "native/bsc/model_bsc.cc",
        "native/bsc/bsc_binding.cc",
        "native/timing/pwm_hw.cc",
        "native/timing/pwm_binding.cc",
        "native/timing/engine.cc",
        "native/timing/engine_binding.cc",
        "native/timing/timing.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++1y"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
