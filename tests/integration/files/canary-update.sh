#!/bin/sh
# Run inside a twin machine (tests/integration/test_runbooks.py): a package with an update from
# an origin unattended-upgrade does not allow (a local repository without a Release file has no
# origin at all): ideation-canary 1.0 installed, 2.0 on offer. Prints the candidate version.
# With "remove": purges the package and the repository.
set -eu
name=ideation-canary
repo=/opt/$name
if [ "${1:-}" = remove ]; then
  dpkg --purge "$name" >/dev/null
  rm -rf "$repo" "/etc/apt/sources.list.d/$name.list"
  exit 0
fi

control() {
  printf 'Package: %s\nVersion: %s\nArchitecture: all\n' "$name" "$1"
  printf 'Maintainer: tests <tests@example.invalid>\n'
  printf 'Description: an update from outside the security origins\n'
}

rm -rf "$repo"
mkdir -p "$repo"
for version in 1.0 2.0; do
  build=$(mktemp -d)
  mkdir "$build/DEBIAN"
  control "$version" >"$build/DEBIAN/control"
  dpkg-deb --build -Zgzip "$build" "$repo/${name}_$version.deb" >/dev/null
  rm -rf "$build"
done
dpkg -i "$repo/${name}_1.0.deb" >/dev/null
rm "$repo/${name}_1.0.deb"

file=${name}_2.0.deb
{
  control 2.0
  printf 'Filename: ./%s\nSize: %s\n' "$file" "$(stat -c %s "$repo/$file")"
  printf 'SHA256: %s\n\n' "$(sha256sum "$repo/$file" | cut -d ' ' -f 1)"
} >"$repo/Packages"
echo "deb [trusted=yes] file:$repo ./" >"/etc/apt/sources.list.d/$name.list"
apt-get update -qq -o "Dir::Etc::sourcelist=/etc/apt/sources.list.d/$name.list" \
  -o Dir::Etc::sourceparts=- 2>/dev/null
apt-cache policy "$name" | sed -n 's/^ *Candidate: //p'
