/** File names grpc-js-xds's `file_watcher` certificate provider reads, in the directory enmesh writes them to. */
export const GRPC_XDS_FILES = Object.freeze({ certificate: 'certificates.pem', privateKey: 'private_key.pem', ca: 'ca_certificates.pem' });
