package waymaker

// Regenerate genpb/ from proto/ with the generators pinned in tools/gen/go.mod.
//go:generate sh ./scripts/genproto.sh
