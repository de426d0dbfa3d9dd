// The one translation unit that compiles Asio, Asio SSL and Beast (the build defines
// BOOST_ASIO_SEPARATE_COMPILATION and BOOST_BEAST_SEPARATE_COMPILATION everywhere). Every
// binary that uses Asio or Beast gets them by linking cashier_net; nothing else lives here.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
