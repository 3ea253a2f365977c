package admin

// FactorDocs lets the tests enrol a TOTP seed as a user would, on the store the service uses.
var FactorDocs = factorDocs
