"""L4: port scans (connect, SYN, UDP) with nmap's states, banners and TLS details."""
