// libFuzzer target: the DEP token file (dep/token_pki.h) over arbitrary bytes: S/MIME, PEM or
// DER envelope extraction, CMS decryption with a fixed key, and parsing of the decrypted MIME
// message. The key below is a throw-away test key made for this fuzzer only (never used anywhere
// else); the seed corpus (corpus/dep_token_file_fuzzer/) holds token files encrypted to its
// certificate with `openssl smime -encrypt`, as ABM makes them, so decryption paths are reached.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dep/token_pki.h"
#include "pki/key.h"
#include "pki/x509.h"

namespace {

constexpr char kKeyPem[] = R"(-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCqZzomy2pSleKL
3x0JkDOJJT10cTb8nIA+REdeOljQ+1YKipouGdeMPhyJNiyUyhJgvL4pRuRR65e9
1rlblCRK1bAWLcvkI7cYL+CT3abUoERzG8wSenBtGqYeCLYC5j6SGSlxh0rGuzYW
t5Gv8qizQ+vkAsGuEI3MuJZqWSj6Br4Fmp6dv3KEO9e/Ubvgu2HnFy2ckCSoTEM5
whROU/m6H0p/e167WdqOvmYHd8I924ubfTKcb4wdVx6TNlwyQwh6yKkN6KpKyAG9
9UONIRFiYxtQp8Qmbf7S0i/54SPNC+xV9D6QUtCe8KhDUzpqgtxFVY3wZllQVnem
fQUQZ6J/AgMBAAECggEASXL6OUuXtiY+Aq02bm9WD2jaXu0H1wW8L1qt6ns62kVj
lmKcx39DDgOduDT+LVoWZtUkIFWax4bFnsHFnqgxpoIKBt1Rk7IjUw0b/5BcPy0f
pAAYy+Qzvotsi+iUT5af5MhsuS8oN5XtYAhbBxyQw8hkjqDzi8w92r67svZgd7gp
L0F1pXaOusDMXm8hjjActFgB3cVSUlTV4eB9WWjrMrKM2xr+X1qziZTTZFZnvKc9
s/HmaFAgZ8axp9H+QCOqUUR9tb0k+oCRgjdix1b0mNIy4KfXJLa1x0vwE02P7mgj
JEwcYOnocs71/86PA+ub1RbZ0qg1O5NOF+ma61PoYQKBgQDUK3GRzGgQbmYpfG37
8V18apagg4sjJg7D+xk1BaEUgUGbgmu5bXiJTGYgz8l7asxg8QVVGdQDQL7MnJLX
fDgWJQcuJFl0jn9MSnkNo+dpmAj1SlN3e9ZlWZx1Hj68XJqYaU9mKpgS2Nf8qew3
Y/+F9iqpRzMWrpUk7XF+pHTCHwKBgQDNmvik3QML48Tgu3znpfItRlawnYrSJIBn
LEu5/Qw6ML5ncsPqbeR7LxV3iP/xKnUeytxmkYPTSIJuNNQMDFcqo/ULqO6ZW4Bb
RdkHLI6TUzEvPz+ZInin6hXCQoAyIBAXkbfiRUrcwsVyfpO7Yxt2GAsuFtUqhMlq
EyIAXcbToQKBgQCZRLTrHR2D2SymBYQyP39INHuRgtVNU93Qx6DDA8kEVgd9/m4x
apprnKweQdyL8m+oDBTNEDZvDyOGDgmp7stZe/A+7fVNVO8yvo3KQ8AVMMYv5Dx9
kREk7+ItXOb3DXKEbXb1GAn5e3ozxNCmhu9854KT/KI0XXPSVFDrqoPKAwKBgFvf
xP2+eM8GT4JwpSbKI4aRqMkxDMhMYUg5JfmNFrql719AjEUkJ/XXm0sX3+5/H2jM
E2KN4Y83Fnlyh9J+bTDzpNs5+Kx0k821T36CLY+tnAvVwnCGU84Mrv5oQuqjIy21
AqtMdWBidGJuJ0uTxMCni89jiot+XJZWyFnLjb4hAoGBAIwYFZ7o8SvTG+VxVXlq
rO4EDcY7exBy1hurcmzwN7LCDy1FRUppvt5fKitlMDLfuk3RC5ASrv1yAcpzwod+
DdhgNOs2fj6DSpTwGgINr64Jfqs/5DaS6unsnzMJnd3hHcGBuKwYPm1zuaBHxotS
FpBTu70xIWfPcuO8ccYH/Sy2
-----END PRIVATE KEY-----
)";
constexpr char kCertPem[] = R"(-----BEGIN CERTIFICATE-----
MIIDFzCCAf+gAwIBAgIUKvJ7Vk2wnWPmLpYeSnGqpebfVBkwDQYJKoZIhvcNAQEL
BQAwGjEYMBYGA1UEAwwPY3VzdG9zIERFUCBmdXp6MCAXDTI2MTEyMjE4NTIyOFoY
DzIxMjYxMDI5MTg1MjI4WjAaMRgwFgYDVQQDDA9jdXN0b3MgREVQIGZ1enowggEi
MA0GCSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQCqZzomy2pSleKL3x0JkDOJJT10
cTb8nIA+REdeOljQ+1YKipouGdeMPhyJNiyUyhJgvL4pRuRR65e91rlblCRK1bAW
LcvkI7cYL+CT3abUoERzG8wSenBtGqYeCLYC5j6SGSlxh0rGuzYWt5Gv8qizQ+vk
AsGuEI3MuJZqWSj6Br4Fmp6dv3KEO9e/Ubvgu2HnFy2ckCSoTEM5whROU/m6H0p/
e167WdqOvmYHd8I924ubfTKcb4wdVx6TNlwyQwh6yKkN6KpKyAG99UONIRFiYxtQ
p8Qmbf7S0i/54SPNC+xV9D6QUtCe8KhDUzpqgtxFVY3wZllQVnemfQUQZ6J/AgMB
AAGjUzBRMB0GA1UdDgQWBBQSrYJeE35IJ3itaujFDf1s7B1N5TAfBgNVHSMEGDAW
gBQSrYJeE35IJ3itaujFDf1s7B1N5TAPBgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3
DQEBCwUAA4IBAQABGJdN7GSoYVG0PDpsjBHHandrYQdUoGxTl6+CtvEmWLHSb8Me
NJ++02K2yfV4D2+xjWhDIzxDzeZid9xOqfRRH6Ff6Mst+I+2FEbxl7amqAFQ1Fe0
jaVRItkKWcS/fsa659rWvOnhRj+uHclAMO315MQTQnYF4pKE0uPN64YT7o95RZ+I
bncNMXtGPQcIJj6kwqvsvuVp0WM8c5q48cv9lC4lLU7TVI+jaMZnm5NaqFv2siLZ
gAnz5DpBgkgeEMUERKp67na9hHDe4t1iepFmDM8kd/eP7TDz4VTWRxWu3gF877Vu
ry42C3+puOQ5jjP6BEhKTZDkNa46tYrfinwS
-----END CERTIFICATE-----
)";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static custos::EvpPkeyPtr key = *custos::PrivateKeyFromPem(kKeyPem, "");
  static custos::X509Ptr cert = *custos::ParseCertificate(kCertPem);
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)custos::dep::DecryptTokenFile(input, key.get(), cert.get());
  (void)custos::dep::ParseTokenMessage(input);
  return 0;
}
