// Package packaging holds the .deb's nfpm config and maintainer scripts;
// its test builds the package with `make package` and inspects it.
package packaging
