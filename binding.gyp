{
  "targets": [
    {
      "target_name": "pi_controller",
      "sources": [
        "native/addon.cc",
        "native/common/errors.cc",
        "native/common/mapped_region.cc",
        "native/common/regs.cc",
        "native/soc/gpio_soc.cc",
        "native/soc/bcm283x.cc",
        "native/soc/rp1.cc",
        "native/soc/model.cc",
        "native/soc/model_bcm.cc",
        "native/soc/model_rp1.cc",
        "native/soc/model_bsc.cc",
        "native/soc/model_pwm.cc",
        "native/hal/bsc.cc",
        "native/hal/pwm.cc",
        "native/hal/engine.cc",
        "native/bindings/bindings.cc",
        "native/bindings/gpio.cc",
        "native/bindings/gpiochip.cc",
        "native/bindings/i2c.cc",
        "native/bindings/bsc.cc",
        "native/bindings/pwm.cc",
        "native/bindings/engine.cc"
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
