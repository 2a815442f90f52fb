// The RFC 7512 subset --key accepts (docs/decisions.md "PKCS#11"): what it names, and every value
// outside it refused as Pkcs11UriError rather than ignored.
import { Pkcs11UriError } from '../../shared/core/errors.js';
import { isPkcs11Uri, parsePkcs11Uri } from '../../shared/keys/pkcs11-uri.js';

test('token, object, id, slot-id, serial, module-path and pin-source are read, percent-decoded', () => {
  expect(isPkcs11Uri('PKCS11:token=a;object=b')).toBe(true);
  expect(isPkcs11Uri('keys/root-1.pem')).toBe(false);
  const uri = parsePkcs11Uri('pkcs11:token=Release%20HSM;object=root-1;id=%01%a2;slot-id=7;serial=42;manufacturer=ACME;model=M1;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin');
  expect(uri).toEqual({
    token: 'Release HSM',
    object: 'root-1',
    id: Uint8Array.from([0x01, 0xa2]),
    slotId: 7n,
    serial: '42',
    manufacturer: 'ACME',
    model: 'M1',
    modulePath: '/usr/lib/softhsm/libsofthsm2.so',
    pinFile: '/run/pin',
  });
});

test.each([
  ['pkcs11:token=release;object', /not name=value/],
  ['pkcs11:object=a;object=b', /given twice/],
  ['pkcs11:token=release', /no key named/],
  ['pkcs11:token=release;object=a;library-description=x', /not one this tool acts on/],
  ['pkcs11:token=release;object=a?x-vendor=1', /not one this tool acts on/],
  ['pkcs11:token=release;object=a;type=public', /type=public names no signing key/],
  ['pkcs11:token=release;object=a?pin-value=1234', /pin-value\) is refused/],
  ['pkcs11:token=release;object=a;pin-value=1234', /pin-value\) is refused/],
  ['pkcs11:token=release;object=a?module-name=softhsm2', /module-name is not searched for/],
  ['pkcs11:token=release;object=a?module-path=relative.so', /absolute path/],
  ['pkcs11:token=release;object=a?pin-source=env:PIN', /file: URI/],
  ['pkcs11:token=release;object=a;slot-id=one', /slot-id must be a decimal number/],
  ['pkcs11:token=release;id=%g1', /not followed by two hex digits/],
  ['pkcs11:token=my token;object=a', /raw space/],
  ['pkcs11:token=%ff;object=a', /not UTF-8/],
  ['pkcs11:token=;object=a', /is empty/],
  ['pkcs11:token=a;object=b?module-path=/x?y', /second "\?"/],
  ['pkcs11:module-path=/x.so;object=a', /belongs in the query/],
])('%s is refused', (uri, message) => {
  expect(() => parsePkcs11Uri(uri)).toThrow(Pkcs11UriError);
  expect(() => parsePkcs11Uri(uri)).toThrow(message);
});

test('a PIN never appears in the error message', () => {
  expect(() => parsePkcs11Uri('pkcs11:token=release;object=a?pin-value=s3cret')).toThrow(/pin-value=\*\*\*/);
  try {
    parsePkcs11Uri('pkcs11:token=release;object=a?pin-value=s3cret');
  } catch (err) {
    expect((err as Error).message).not.toContain('s3cret');
  }
});
