#!/bin/sh
# Seeds of ota_request_fuzzer (corpus/ota_request_fuzzer/): the attribute plist a device returns
# to the profile service (attributes.xml, written by hand after Apple's DeviceAttributes), its
# binary form, and copies CMS-signed (SHA-1 and SHA-256) by a throw-away self-signed key, as
# phases 2 and 3 send them. Run from the repository root.
set -eu
dir=fuzz/corpus/ota_request_fuzzer
python3 -c "
import plistlib
d = plistlib.load(open('$dir/attributes.xml', 'rb'))
open('$dir/attributes.bplist', 'wb').write(plistlib.dumps(d, fmt=plistlib.FMT_BINARY))
"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/k.pem" -out "$tmp/c.pem" \
  -subj "/CN=00008110-000A1C2E3F4B5C6D" -days 30 2>/dev/null
for md in sha1 sha256; do
  openssl cms -sign -nodetach -binary -md "$md" -in "$dir/attributes.xml" -signer "$tmp/c.pem" \
    -inkey "$tmp/k.pem" -outform DER -out "$dir/signed_$md.der"
done
