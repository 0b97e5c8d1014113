#!/bin/sh
# mkx509.sh - makes the certificates test_x509.c decodes (openssl CLI) and writes them,
# with the SHA-256 of each DER file, into tests/unit/x509_certs.h; copies the small ones
# to tests/fuzz/seeds/fuzz_x509/ as seeds.
#
# Keys are fresh on each run, so the DER bytes and digests change; every field the test
# asserts (names, serials, dates, SANs, key sizes, algorithms) does not. Run it again only
# to change the certificates, then commit the header and seeds with it.
# Usage: sh tests/unit/mkx509.sh   (needs openssl, od, awk, perl, sha256sum)
#
#   ca        RSA 2048, self-signed, CA:TRUE, v3
#   device    RSA 2048 signed by ca, CN=dev-0001, an OU with a comma, five SANs, v3
#   ec        EC P-256, self-signed, v1 (no extensions), notAfter in 2099 (GeneralizedTime)
#   ed25519   Ed25519, self-signed, one SAN, v3
#   badcn     RSA signed by ca, patched after signing: control bytes in the CN, bytes
#             that are not UTF-8 in the DC
#   odd       Ed448, self-signed, serial patched negative; the subject has T61String,
#             BMPString, an OID libcrypto does not know, a multi-valued RDN and characters
#             RFC 4514 escapes; otherName and dirName SANs (not kept) and a DNS one, then
#             a second SAN extension with IP addresses of 5 and 8 bytes (not kept)
#             and a DNS name
#   manysan   EC signed by ca, serial 0, a registeredID SAN then 20 DNS SANs (16 kept)
#   huge      EC signed by ca, 15 DNS SANs of 250 characters (more than the text area)
#   longname  EC signed by ca, a givenName of 1600 two-byte UTF-8 characters, cut
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$here/x509_certs.h
seeds=$repo/tests/fuzz/seeds/fuzz_x509
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

for tool in openssl od awk perl sha256sum; do
	command -v "$tool" >/dev/null || {
		echo "mkx509: $tool is needed" >&2
		exit 1
	}
done

cd "$tmp"
mkdir db
: >db/index.txt

# A 250-character DNS name: four labels of 61 characters and one of 2, dots between.
long_dns() {
	label=$(printf "%061d" 0 | tr 0 "$1")
	printf '%s.%s.%s.%s.%s' "$label" "$label" "$label" "$label" "$(printf '%s%s' "$1" "$1")"
}

{
	cat <<'EOF'
[ca]
default_ca = test
[test]
database = db/index.txt
serial = db/serial
new_certs_dir = db
default_md = default
policy = anything
unique_subject = no
copy_extensions = none
[anything]
commonName = optional
[req]
distinguished_name = dn
prompt = no
[dn]

[ext_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[ext_device]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectAltName = @san_device
[san_device]
DNS.1 = dev-0001.plant.example
IP.1 = 10.1.2.3
IP.2 = 2001:db8::7
URI.1 = spiffe://acme/dev-0001
email.1 = ops@acme.example

[ext_ed25519]
basicConstraints = critical,CA:FALSE
subjectAltName = DNS:gw.example

[ext_leaf]
basicConstraints = CA:FALSE

[ext_odd]
subjectAltName = otherName:1.3.6.1.4.1.311.20.2.3;UTF8:upn@example,dirName:dir_odd,DNS:odd.example
# GeneralNames as DER: an iPAddress of 5 bytes, one of 8 (a name-constraint range), then
# dNSName "second.example"; its OID 2.5.29.99 is patched to 2.5.29.17 (subjectAltName)
# after signing, which makes a second SAN extension
2.5.29.99 = DER:302187050a0102030487080a000000ffffff00820e7365636f6e642e6578616d706c65
[dir_odd]
CN = in a dirName

[ext_manysan]
subjectAltName = @san_many
[san_many]
RID.1 = 1.3.6.1.4.1.99999.7
EOF
	i=0
	while [ $i -lt 20 ]; do
		printf 'DNS.%d = san-%02d.example\n' $((i + 1)) $i
		i=$((i + 1))
	done
	printf '\n[ext_huge]\nsubjectAltName = @san_huge\n[san_huge]\n'
	i=0
	for c in a b c d e f g h i j k l m n o; do
		i=$((i + 1))
		printf 'DNS.%d = %s\n' $i "$(long_dns $c)"
	done
} >ca.cnf

# For odd's request only: string_mask default picks T61String for Latin-1 text and
# BMPString for the rest, and an OID of our own becomes a subject attribute.
cat >odd.cnf <<'EOF'
oid_section = oids
[oids]
testAttr = 1.3.6.1.4.1.99999.1
[req]
distinguished_name = dn
prompt = no
string_mask = default
[dn]
EOF

key() { # name rsa|ec|ed25519
	case $2 in
	rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key" 2>/dev/null ;;
	ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null ;;
	ed25519) openssl genpkey -algorithm ED25519 -out "$1.key" ;;
	ed448) openssl genpkey -algorithm ED448 -out "$1.key" ;;
	esac
}

# cert NAME KEYTYPE SUBJECT SERIAL NOT_BEFORE NOT_AFTER EXTENSIONS|- SIGNER|self
cert() {
	key "$1" "$2"
	openssl req -config "${reqcnf:-ca.cnf}" -new -utf8 -multivalue-rdn -key "$1.key" -subj "$3" -out "$1.csr"
	printf '%s\n' "$4" >db/serial
	set -- "$@" -startdate "$5" -enddate "$6"
	[ "$7" = - ] || set -- "$@" -extensions "$7"
	if [ "$8" = self ]; then
		set -- "$@" -selfsign -keyfile "$1.key"
	else
		set -- "$@" -cert "$8.pem" -keyfile "$8.key"
	fi
	name=$1
	shift 8
	openssl ca -batch -config ca.cnf -notext -preserveDN -in "$name.csr" -out "$name.pem" "$@" 2>/dev/null
	openssl x509 -in "$name.pem" -outform DER -out "$name.der"
}

cert ca rsa "/C=DE/O=Acme Devices/CN=Acme Device CA" 1000 20240101000000Z 20340101000000Z ext_ca self
cert device rsa "/O=Acme Devices/OU=Line 1, Hall B/CN=dev-0001" 0A1B2C3D4E5F \
	20250101000000Z 20270315120000Z ext_device ca
cert ec ec "/O=Acme Sensors/CN=ec-sensor" 7F 20250601000000Z 20991231235959Z - self
cert ed25519 ed25519 "/CN=ed-gw" 01 20260101000000Z 20360101000000Z ext_ed25519 self
cert badcn rsa "/DC=xZZZZZZZZZZZZZZZ/O=Acme Devices/CN=ctl-QQQQQQ-é-end" 0BAD 20250101000000Z 20260101000000Z ext_leaf ca
reqcnf=odd.cnf cert odd ed448 \
	"/C=DE/testAttr=plain/O=Zürich Tëst/OU=#lead/L=semi;colon <a>, trail /CN=中文+UID=u1" 7E \
	20250101000000Z 20260101000000Z ext_odd self
cert manysan ec "/CN=many" 00 20250101000000Z 20260101000000Z ext_manysan ca
cert huge ec "/O=Acme Devices/CN=huge" 00FF 20250101000000Z 20260101000000Z ext_huge ca
cert longname ec "/CN=long/GN=$(printf "%01600d" 0 | sed 's/0/é/g')" 0100 \
	20250101000000Z 20260101000000Z ext_leaf ca

# What no CA would sign but a peer can still send (the signatures no longer verify; the
# decoder does not check them). libcrypto rejects a UTF8String that is not UTF-8, so the
# CN (UTF8String) gets control characters that are valid UTF-8: 0x01, DEL, C1 NEL
# (c2 85), ESC and NUL; the DC (IA5String, which libcrypto reads as Latin-1) gets 0xff,
# 0xfe, a broken two-byte sequence (c3 28), an overlong '/' (c0 af), a surrogate
# (ed a0 80), a code point past U+10FFFF (f4 90 80 80) and, last, a cut one (e2 82).
perl -0777 -i -pe '
	$n = s/QQQQQQ/\x01\x7f\xc2\x85\x1b\x00/g;
	$m = s/ZZZZZZZZZZZZZZZ/\xff\xfe\xc3\x28\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82/g;
	$n == 1 && $m == 1 or die "mkx509: badcn placeholders found $n and $m times\n"' badcn.der
# odd's serial 7E (02 01 7e, the first INTEGER of the certificate) becomes 81: -127;
# its extension 2.5.29.99 becomes a second subjectAltName.
perl -0777 -i -pe '
	s/\x02\x01\x7e/\x02\x01\x81/ or die "mkx509: odd serial not found\n";
	$n = s/\x06\x03\x55\x1d\x63/\x06\x03\x55\x1d\x11/g;
	$n == 1 or die "mkx509: odd extension OID found $n times\n"' odd.der

{
	echo "/* x509_certs.h - generated by tests/unit/mkx509.sh (openssl $(openssl version | awk '{print $2}')); do not edit."
	echo " * DER certificates for test_x509.c and the SHA-256 of each (sha256sum of the file). */"
	echo "#ifndef IW_TEST_X509_CERTS_H"
	echo "#define IW_TEST_X509_CERTS_H"
	echo
	echo "#include <stdint.h>"
	echo
	echo "/* clang-format off */"
	for name in ca device ec ed25519 badcn odd manysan huge longname; do
		echo
		echo "static const uint8_t x509_${name}[] = {"
		od -An -v -tx1 "$name.der" | awk '{ s = "\t"; for (i = 1; i <= NF; i++) s = s "0x" $i (i < NF ? ", " : ","); print s }'
		echo "};"
		echo "static const char x509_${name}_sha256[] = \"$(sha256sum "$name.der" | awk '{print $1}')\";"
	done
	echo
	echo "/* clang-format on */"
	echo
	echo "#endif"
} >x509_certs.h
mv x509_certs.h "$out"

mkdir -p "$seeds"
for name in ca device ec ed25519 badcn odd manysan huge longname; do
	cp "$name.der" "$seeds/$name.der"
done
echo "mkx509: wrote $out and $seeds"
