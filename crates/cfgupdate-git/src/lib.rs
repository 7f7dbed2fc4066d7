//! cfgupdate's config repository on a real git remote, through libgit2.
