/**
 * `pi-controller/hw`: register-level GPIO for every Raspberry Pi SoC, and the pieces under it.
 */
export { openChip, RegisterChip } from './chip.js';
export type { OpenChipOptions, PinMode, Pull, Level, DriveStrength, Slew, SimulatedPins } from './chip.js';
export { detectBoard, gpioWindowBytes } from './detect.js';
export type { BoardInfo, DetectOptions } from './detect.js';
export { HwError } from './errors.js';
export type { HwErrorProps } from './errors.js';
export { loadAddon, addonPath } from './addon.js';
export type { LoadAddonOptions } from './addon.js';
export type { SocName, RegisterBlock, TraceEntry, NativeAddon } from './native.js';
export { openHardwarePwm, HardwarePwm, bcmPwmFromRegisters, rp1PwmFromRegisters, PWM_PINS } from './pwm.js';
export type { OpenHardwarePwmOptions, PwmResult, PwmTraceEntry, PwmModelState } from './pwm.js';
export { TimingEngine, pwmStats } from './pwm-engine.js';
export type { TimingEngineOptions, SoftPwmResult, PwmEdge, PwmStats, PwmRecordStats } from './pwm-engine.js';
export type { WaveStep, WaveResult } from './waveform.js';
export type { PollEdgesOptions, EdgeListener, EdgeEvent } from './edges.js';
