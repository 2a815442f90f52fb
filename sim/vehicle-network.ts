// The path between one simulated vehicle and the repositories, as layers a test switches on and off
// while the fleet runs: network faults and attackers, each a Fetcher/Poster wrapped around the one
// below it. The vehicle holds this path from its start, so a layer takes effect on its next request.
import type { Fetcher, FetchOptions, FetchResponse, Poster, PostOptions, PostResponse } from '../shared/client/fetcher.js';
import { FaultyNetwork, type NetworkBehaviour } from './network-faults.js';

export type NetworkHop = Fetcher & Poster;

/**
 * Something that sits on a vehicle's network path: a fault or an attacker. `wrap` is called when it
 * is switched on (and again when a layer below it changes), with the hop below it.
 */
export interface NetworkLayer {
  readonly name: string;
  wrap(inner: NetworkHop, vehicle: { readonly vin: string }): NetworkHop;
}

/** A layer built on FaultyNetwork's behaviours (network-faults.ts). */
export const behaviourLayer = (kind: NetworkBehaviour['kind']): NetworkLayer => ({
  name: kind,
  wrap: (inner) => new FaultyNetwork(inner, { kind }),
});

export class VehicleNetwork implements Fetcher, Poster {
  /** Switched-on layers, innermost first. */
  private readonly layers: NetworkLayer[] = [];
  private outer: NetworkHop;

  constructor(private readonly base: NetworkHop, private readonly vin: string) {
    this.outer = base;
  }

  /** Names of the layers switched on, innermost first. */
  active(): string[] {
    return this.layers.map((l) => l.name);
  }

  isOn(name: string): boolean {
    return this.layers.some((l) => l.name === name);
  }

  /**
   * Switches `layer` on (outermost) or off. The hops are wrapped again from the base, so a layer
   * that keeps state (a replaying attacker's captured metadata) starts afresh when another changes.
   */
  set(layer: NetworkLayer, on: boolean): void {
    const at = this.layers.findIndex((l) => l.name === layer.name);
    if (on === at >= 0) return;
    if (on) this.layers.push(layer);
    else this.layers.splice(at, 1);
    this.outer = this.layers.reduce<NetworkHop>((inner, l) => l.wrap(inner, { vin: this.vin }), this.base);
  }

  fetch(url: string, options: FetchOptions): Promise<FetchResponse> {
    return this.outer.fetch(url, options);
  }

  post(url: string, options: PostOptions): Promise<PostResponse> {
    return this.outer.post(url, options);
  }
}
