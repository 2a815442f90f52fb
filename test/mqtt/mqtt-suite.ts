// The MQTT suites need the mosquitto binary (each file starts a broker of its own). Where it is
// absent they are skipped with a notice; under CI=true they fail instead (.ci/run installs it).
import { hasMosquitto } from '../../sim/harness/mosquitto.js';

export function mqttSuite(name: string, body: () => void): void {
  if (hasMosquitto) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs mosquitto (CI=true: install it with apt-get install mosquitto, as .ci/run does)', () => {
        throw new Error('mosquitto is not installed, and CI=true runs every MQTT test: apt-get install mosquitto');
      });
    });
    return;
  }
  console.warn(`\n*** mosquitto is not installed: "${name}" is SKIPPED (apt-get install mosquitto runs it). ***\n`);
  describe.skip(name, body);
}
