package waymaker

// Version is this SDK's version. The reference server in the same
// repository reports it too (waymakerd --version), since both are released
// together.
const Version = "v0.1.0-dev"
