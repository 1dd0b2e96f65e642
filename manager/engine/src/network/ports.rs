//! Host port reservations for published ports. The traffic itself is
//! forwarded by the firewall's DNAT rules; the socket held here only claims
//! the port on the host, so that no other program (or container) gets it
//! while the container runs, and so that a port already taken fails the
//! start with docker's message instead of silently shadowing a service.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use berth_errdefs::ErrorKind;

/// Re-exported: part of [`Reserved`]; one type with the firewall's.
pub use super::firewall::Proto;

/// A host port that cannot be reserved.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// docker's words, so that scripts matching them keep working.
    #[error("Bind for {}:{port} failed: port is already allocated", shown_ip(*.host_ip))]
    InUse {
        host_ip: Option<Ipv4Addr>,
        port: u16,
        proto: Proto,
    },
    #[error("cannot reserve {} port {}:{port}: {source}", .proto.as_str(), shown_ip(*.host_ip))]
    Io {
        host_ip: Option<Ipv4Addr>,
        port: u16,
        proto: Proto,
        #[source]
        source: io::Error,
    },
}

impl PortError {
    /// A taken port is the host's state, a foreign address the user's
    /// mistake; anything else is ours.
    pub fn kind(&self) -> ErrorKind {
        match self {
            PortError::InUse { .. } => ErrorKind::FailedPrecondition,
            PortError::Io { source, .. } if source.kind() == io::ErrorKind::AddrNotAvailable => {
                ErrorKind::InvalidArgument
            }
            PortError::Io { .. } => ErrorKind::Internal,
        }
    }
}

fn shown_ip(ip: Option<Ipv4Addr>) -> Ipv4Addr {
    ip.unwrap_or(Ipv4Addr::UNSPECIFIED)
}

/// A host port held for a published container port; dropping it frees the
/// port.
pub struct Reserved {
    pub host_ip: Option<Ipv4Addr>,
    /// The real port, also when the kernel picked it.
    pub host_port: u16,
    pub proto: Proto,
    _socket: Socket,
}

impl fmt::Debug for Reserved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reserved")
            .field("host_ip", &self.host_ip)
            .field("host_port", &self.host_port)
            .field("proto", &self.proto)
            .finish_non_exhaustive()
    }
}

/// Binds host_ip (None = 0.0.0.0):port (0 = the kernel picks) for proto,
/// close-on-exec (socket2's default: shims and containers must not inherit
/// it), without SO_REUSEADDR (so that a bound socket conflicts with any
/// other bind); tcp is bound but not listening, so connections are never
/// accepted by berthd. EADDRINUSE becomes [`PortError::InUse`].
pub fn reserve(host_ip: Option<Ipv4Addr>, port: u16, proto: Proto) -> Result<Reserved, PortError> {
    let io_err = |source: io::Error| {
        if source.kind() == io::ErrorKind::AddrInUse {
            PortError::InUse {
                host_ip,
                port,
                proto,
            }
        } else {
            PortError::Io {
                host_ip,
                port,
                proto,
                source,
            }
        }
    };
    let (ty, protocol) = match proto {
        Proto::Tcp => (Type::STREAM, Protocol::TCP),
        Proto::Udp => (Type::DGRAM, Protocol::UDP),
    };
    let socket = Socket::new(Domain::IPV4, ty, Some(protocol)).map_err(io_err)?;
    let addr = SocketAddrV4::new(shown_ip(host_ip), port);
    socket.bind(&SockAddr::from(addr)).map_err(io_err)?;
    let host_port = socket
        .local_addr()
        .map_err(io_err)?
        .as_socket_ipv4()
        .map(|a| a.port())
        .ok_or_else(|| {
            io_err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the bound socket has no IPv4 address",
            ))
        })?;
    Ok(Reserved {
        host_ip,
        host_port,
        proto,
        _socket: socket,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream, UdpSocket};

    const LOOPBACK: Option<Ipv4Addr> = Some(Ipv4Addr::LOCALHOST);

    #[test]
    fn a_port_held_by_a_listener_is_in_use() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
        let port = listener.local_addr().expect("addr").port();
        for ip in [None, LOOPBACK] {
            let err = reserve(ip, port, Proto::Tcp).expect_err("in use");
            assert!(matches!(err, PortError::InUse { .. }), "{err}");
            assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
            let shown = if ip.is_some() { "127.0.0.1" } else { "0.0.0.0" };
            assert_eq!(
                err.to_string(),
                format!("Bind for {shown}:{port} failed: port is already allocated")
            );
        }
    }

    #[test]
    fn a_udp_port_in_use_is_in_use() {
        let held = UdpSocket::bind("127.0.0.1:0").expect("udp");
        let port = held.local_addr().expect("addr").port();
        let err = reserve(LOOPBACK, port, Proto::Udp).expect_err("in use");
        assert!(matches!(err, PortError::InUse { .. }), "{err}");
    }

    #[test]
    fn port_zero_gets_a_real_port_and_tcp_does_not_listen() {
        let reserved = reserve(LOOPBACK, 0, Proto::Tcp).expect("reserve");
        assert_ne!(reserved.host_port, 0);
        assert_eq!(reserved.host_ip, LOOPBACK);
        assert_eq!(reserved.proto, Proto::Tcp);
        // Bound, not listening: nobody accepts connections on it.
        let err = TcpStream::connect((Ipv4Addr::LOCALHOST, reserved.host_port))
            .expect_err("nothing listens");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        // And it is taken for everyone else.
        let err =
            TcpListener::bind((Ipv4Addr::LOCALHOST, reserved.host_port)).expect_err("reserved");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn tcp_and_udp_on_the_same_number_both_work() {
        // The kernel's pick for tcp may be taken for udp by someone else:
        // try a few.
        for _ in 0..20 {
            let tcp = reserve(LOOPBACK, 0, Proto::Tcp).expect("tcp");
            match reserve(LOOPBACK, tcp.host_port, Proto::Udp) {
                Ok(udp) => {
                    assert_eq!(udp.host_port, tcp.host_port);
                    assert_eq!(udp.proto, Proto::Udp);
                    return;
                }
                Err(PortError::InUse { .. }) => continue,
                Err(e) => panic!("udp: {e}"),
            }
        }
        panic!("no port free for both tcp and udp in 20 tries");
    }

    #[test]
    fn dropping_frees_the_port() {
        for proto in [Proto::Tcp, Proto::Udp] {
            let first = reserve(LOOPBACK, 0, proto).expect("first");
            let port = first.host_port;
            assert!(matches!(
                reserve(LOOPBACK, port, proto),
                Err(PortError::InUse { .. })
            ));
            drop(first);
            let again = reserve(LOOPBACK, port, proto).expect("freed");
            assert_eq!(again.host_port, port);
        }
    }

    #[test]
    fn a_foreign_address_is_the_users_mistake() {
        // TEST-NET-1 is on no interface of the host.
        let err = reserve(Some(Ipv4Addr::new(192, 0, 2, 1)), 0, Proto::Tcp).expect_err("not local");
        assert!(matches!(err, PortError::Io { .. }), "{err}");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(
            err.to_string()
                .starts_with("cannot reserve tcp port 192.0.2.1:0: "),
            "{err}"
        );
    }
}
