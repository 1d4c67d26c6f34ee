#!/usr/bin/env bash
# Fetch the exact front-end assets GX 1.24's Data Docs templates reference (from the npm
# registry, with `npm pack`) into src/demandcast/vendor/data_docs/. Run once; commit the result (~3 MB).
# Versions = those in great_expectations/render/view/templates/{page,index_page,js_script_imports}.j2;
# re-check them when GX is upgraded (demandcast.gx_docs fails loudly on an unknown CDN URL).
set -euo pipefail
cd "$(dirname "$0")/.."
out=src/demandcast/vendor/data_docs; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pkgs=(jquery@3.7.1 popper.js@1.12.9 bootstrap@4.3.1 bootstrap-table@1.19.1 bootstrap-datepicker@1.9.0
      @fortawesome/fontawesome-free@6.6.0 @forevolve/bootstrap-dark@1.1.0 vega@5 vega-lite@5 vega-embed@6)
(cd "$tmp" && npm pack --silent "${pkgs[@]}" >/dev/null)
rm -rf "$out"; mkdir -p "$out"/{js,css,webfonts}
x() { tar xzf "$tmp"/$1 -C "$out/$3" --strip-components=$4 "package/$2"; }
x jquery-3.7.1.tgz                 dist/jquery.min.js                                             js  2
x popper.js-1.12.9.tgz             dist/umd/popper.min.js                                         js  3
x bootstrap-4.3.1.tgz              dist/js/bootstrap.min.js                                       js  3
x bootstrap-4.3.1.tgz              dist/css/bootstrap.min.css                                     css 3
x bootstrap-table-1.19.1.tgz       dist/bootstrap-table.min.js                                    js  2
x bootstrap-table-1.19.1.tgz       dist/bootstrap-table.min.css                                   css 2
x bootstrap-table-1.19.1.tgz       dist/extensions/filter-control/bootstrap-table-filter-control.min.js  js  4
x bootstrap-table-1.19.1.tgz       dist/extensions/filter-control/bootstrap-table-filter-control.min.css css 4
x bootstrap-table-1.19.1.tgz       dist/extensions/filter-control/bootstrap-table-filter-control.css     css 4
x bootstrap-datepicker-1.9.0.tgz   dist/js/bootstrap-datepicker.min.js                            js  3
x bootstrap-datepicker-1.9.0.tgz   dist/css/bootstrap-datepicker.min.css                          css 3
x fortawesome-fontawesome-free-6.6.0.tgz css/all.min.css                                          css 2
x fortawesome-fontawesome-free-6.6.0.tgz webfonts                                                 webfonts 2
x forevolve-bootstrap-dark-1.1.0.tgz dist/css/bootstrap-prefers-dark.css                          css 3
x vega-5.*.tgz                     build/vega.min.js                                              js  2
x vega-lite-5.*.tgz                build/vega-lite.min.js                                         js  2
x vega-embed-6.*.tgz               build/vega-embed.min.js                                        js  2
mv "$out/css/all.min.css" "$out/css/fontawesome-all.min.css"   # its url(../webfonts/..) still resolves
ls "$tmp"/*.tgz | xargs -n1 basename > "$out/VERSIONS"
du -sh "$out"
