// The attacker's tools live with the simulator (sim/attacks/attacker.ts) so that `uptane sim attack`
// plays the same attacks as test/attacks/; the tests keep importing them from here.
export * from '../../sim/attacks/attacker.js';
