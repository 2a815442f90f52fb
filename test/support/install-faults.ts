// One fault injected at one install step of one ECU (shared/ecu/ab-slots.ts faultAt), for the crash
// matrices: an error stands for that step's I/O failing with the ECU running on, a power cut for the
// process dying there. It fires once, so the restart that follows runs clean.
import { PowerCut, type InstallStep } from '../../shared/ecu/ab-slots.js';

export type FaultKind = 'error' | 'power-cut';

export class InstallFaults {
  private armed: { serial: string; step: InstallStep; kind: FaultKind } | null = null;
  /** `serial:step:kind` of every fault that fired, in order. */
  readonly fired: string[] = [];

  /** The next time `serial` reaches `step`, `kind` happens there. */
  arm(serial: string, step: InstallStep, kind: FaultKind): void {
    this.armed = { serial, step, kind };
  }

  reset(): void {
    this.armed = null;
    this.fired.length = 0;
  }

  /** The faultAt hook for ECU `serial`'s slots. */
  hook(serial: string): (step: InstallStep) => void {
    return (step) => {
      const armed = this.armed;
      if (armed === null || armed.serial !== serial || armed.step !== step) return;
      this.armed = null;
      this.fired.push(`${serial}:${step}:${armed.kind}`);
      if (armed.kind === 'power-cut') throw new PowerCut(step);
      throw Object.assign(new Error(`EIO: i/o error (injected at ${step})`), { code: 'EIO' });
    };
  }
}
