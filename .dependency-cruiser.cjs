// The dependency rule of docs/ARCHITECTURE.md, checked on every `npm test` (test/architecture/dependency-rule.test.ts
// runs dependency-cruiser with this file). Arrows point down: a layer imports only the layers below
// it, the pure TUF core imports no other layer and does no I/O, and nothing that ships imports tests.
/** Folders of the shared layers, lowest first. */
const CORE = '^shared/core/';
const UTIL = '^shared/util/';

/** forbidden rule: files matching `from` may not import files matching `to`. */
const forbid = (name, comment, from, to) => ({ name, comment, severity: 'error', from, to });

module.exports = {
  forbidden: [
    forbid('core-is-pure', 'The TUF core (canonical JSON, keys, metadata, trusted set, errors) imports no other project layer.',
      { path: CORE }, { path: '^(shared/(?!core/)|image-repo|director-repo|primary-ecu|secondary-ecu|vehicle|gateway|sim|bench|test|(cli|uptane-commands)\\.ts)' }),
    forbid('core-does-no-io', 'The core does no file or network I/O: key files live in shared/files, fetching in shared/client.',
      { path: CORE }, { path: '^(fs|fs/promises|http|https|net|tls|dgram|child_process|worker_threads)$', dependencyTypes: ['core'] }),
    forbid('util-depends-on-nothing', 'shared/util holds leaf helpers any layer may use.',
      { path: UTIL }, { path: '^(shared/(?!util/)|image-repo|director-repo|primary-ecu|secondary-ecu|vehicle|gateway|sim|bench|test)' }),
    forbid('files-below-client', 'shared/files (atomic writes, locks, key files) uses only the core and util.',
      { path: '^shared/files/' }, { path: '^shared/(client|uptane|ecu|server|workspace|cli)/' }),
    forbid('pki-beside-files', 'shared/pki (the development CA and certificate profile) uses only the core, util and files, so servers, vehicles and CLIs can all read it.',
      { path: '^shared/pki/' }, { path: '^shared/(client|uptane|ecu|server|workspace|cli)/' }),
    forbid('keys-beside-files', 'shared/keys (key sources: key files and PKCS#11 tokens opened as Signers) uses only the core, files and the CLI environment type, so any CLI can open a --key.',
      { path: '^shared/keys/' }, { path: '^shared/(client|uptane|ecu|server|workspace|pki)/|^shared/cli/(?!environment\\.ts$)' }),
    forbid('client-below-uptane', 'The TUF client (fetcher, updater, stores) knows nothing of Uptane, ECUs, servers or CLIs.',
      { path: '^shared/client/' }, { path: '^shared/(uptane|ecu|server|workspace|cli)/' }),
    forbid('uptane-below-ecu', 'Uptane rules (Director and Image clients, verification, manifests) know nothing of the ECU runtime, servers or CLIs.',
      { path: '^shared/uptane/' }, { path: '^shared/(ecu|server|workspace|cli)/' }),
    forbid('ecu-runtime-not-server', 'The ECU runtime (A/B slots, vehicle state, secondary protocol) does not use server or CLI helpers.',
      { path: '^shared/ecu/' }, { path: '^shared/(server|workspace|cli)/' }),
    forbid('server-helpers-not-ecu', 'Server helpers serve both repositories from the core alone: no TUF client, Uptane vehicle rules, ECUs, signing workspace or CLIs.',
      { path: '^shared/server/' }, { path: '^shared/(client|uptane|ecu|workspace|cli)/' }),
    forbid('workspace-not-online', 'The offline signing workspace never touches server or ECU code.',
      { path: '^shared/workspace/' }, { path: '^shared/(ecu|server)/' }),
    forbid('transparency-on-core', 'The transparency log (shared/transparency) uses only the core and the SQLite opener, so the servers, an auditor and a vehicle can all load it.',
      { path: '^shared/transparency/' }, { path: '^shared/(?!core/|transparency/|server/sqlite\\.ts$)' }),
    forbid('suit-on-core', 'SUIT envelopes (shared/suit) use only the core, so a constrained ECU loads no client, server or ECU runtime to read one.',
      { path: '^shared/suit/' }, { path: '^shared/(?!core/|suit/)' }),
    forbid('shared-below-components', 'shared/ is the base every component builds on; it imports none of them.',
      { path: '^shared/' }, { path: '^(image-repo|director-repo|primary-ecu|secondary-ecu|vehicle|gateway|sim|bench|test)/' }),
    forbid('ecus-apart', 'The primary and the secondary ECU meet only through shared/ecu/secondary-protocol.ts; the vehicle/ folder composes them.',
      { path: '^primary-ecu/' }, { path: '^(secondary-ecu|image-repo|director-repo|vehicle|sim)/' }),
    forbid('secondary-apart', 'A secondary ECU depends on shared/ only.',
      { path: '^secondary-ecu/' }, { path: '^(primary-ecu|image-repo|director-repo|vehicle|sim)/' }),
    forbid('image-repo-apart', 'The Image repository depends on shared/ only.',
      { path: '^image-repo/' }, { path: '^(director-repo|primary-ecu|secondary-ecu|vehicle|sim)/' }),
    forbid('director-apart', 'The Director depends on shared/ (and reads the Image repository only over HTTP).',
      { path: '^director-repo/' }, { path: '^(primary-ecu|secondary-ecu|vehicle|sim)/' }),
    forbid('servers-not-ecu-runtime', 'Servers never load ECU runtime code.',
      { path: '^(image-repo|director-repo)/' }, { path: '^shared/ecu/' }),
    forbid('gateway-apart', 'The caching gateway depends on shared/ and the operator API\'s wire types (director-repo/api/) only: it talks to both repositories over HTTP and holds no vehicle or ECU code.',
      { path: '^gateway/' }, { path: '^(director-repo/(?!api/)|image-repo|primary-ecu|secondary-ecu|vehicle|sim|shared/(ecu|workspace)/)' }),
    forbid('vehicle-not-sim', 'vehicle/ composes one real vehicle; the simulator builds on it, not the reverse.',
      { path: '^vehicle/' }, { path: '^(sim|bench)/' }),
    forbid('nothing-imports-tests', 'Product code, the simulator and the benchmarks never import test code.',
      { path: '^(?!test/)' }, { path: '^test/' }),
    forbid('nothing-imports-bench', 'Only the benchmarks import the benchmarks.',
      { path: '^(?!bench/)' }, { path: '^bench/' }),
    {
      name: 'no-circular',
      comment: 'Import cycles make the layers meaningless and the start-up order fragile.',
      severity: 'error',
      from: { path: '^(shared|image-repo|director-repo|primary-ecu|secondary-ecu|vehicle|gateway|sim)/' },
      to: { circular: true },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|bench/tmp|\\.ci)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'], exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
