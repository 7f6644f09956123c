//! qnetd certificate store: CA init, CSR signing, PKCS#12 export.
