// Thin HTTP handlers for the certificate authority's public endpoints:
//   GET /ca/chain  the CA chain, PEM (application/pem-certificate-chain, RFC 8555 section 9.1):
//                  the active issuing certificate, the root, then older issuing certificates
//                  still trusted after a rollover;
//   GET /ca/crl    the current CRL of the active issuing key, DER (application/pkix-crl,
//                  RFC 2585 section 4.2), regenerated before it goes stale.
#ifndef CUSTOS_HTTP_CA_HANDLERS_H_
#define CUSTOS_HTTP_CA_HANDLERS_H_

#include "ca/authority.h"
#include "http/router.h"

namespace custos::http {

// `authority` must outlive the router.
void AddCaRoutes(Router& router, Authority* authority);

}  // namespace custos::http

#endif  // CUSTOS_HTTP_CA_HANDLERS_H_
