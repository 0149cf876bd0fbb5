#!/usr/bin/python3
"""libtorrent as a reference peer for musicark's tests (Debian's
python3-libtorrent, which loads only in /usr/bin/python3).

  lt_helper.py create PATH OUT v1|v2|hybrid PIECE_LENGTH   # prints info as JSON
  lt_helper.py info TORRENT                                # {"v1", "v2", "piece_length", "files"}
  lt_helper.py check TORRENT SAVE_PATH                     # {"progress", "pieces", "have"}
  lt_helper.py seed TORRENT SAVE_PATH PORT_FILE            # seed on loopback until killed

`seed` also runs a minimal HTTP tracker on loopback that answers every
announce with the seeder's address, and writes "PEER_PORT TRACKER_PORT" to
PORT_FILE once the torrent is checked and seeding.
"""
import json
import os
import sys
import time

import libtorrent as lt


def hashes(ti):
    ih = ti.info_hashes()
    v1 = str(ih.v1) if ih.has_v1() else None
    v2 = str(ih.v2) if ih.has_v2() else None
    return {"v1": v1, "v2": v2, "piece_length": ti.piece_length(), "files": ti.num_files()}


def main():
    cmd = sys.argv[1]
    if cmd == "create":
        path, out, mode, piece = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
        fs = lt.file_storage()
        lt.add_files(fs, path)
        flags = {"v1": lt.create_torrent.v1_only, "v2": lt.create_torrent.v2_only, "hybrid": 0}[mode]
        ct = lt.create_torrent(fs, piece, flags=flags)
        lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(path)))
        with open(out, "wb") as f:
            f.write(lt.bencode(ct.generate()))
        print(json.dumps(hashes(lt.torrent_info(out))))
    elif cmd == "info":
        print(json.dumps(hashes(lt.torrent_info(sys.argv[2]))))
    elif cmd == "check":
        ti = lt.torrent_info(sys.argv[2])
        ses = lt.session({"enable_dht": False, "enable_lsd": False, "enable_upnp": False,
                          "enable_natpmp": False, "listen_interfaces": "127.0.0.1:0"})
        h = ses.add_torrent({"ti": ti, "save_path": sys.argv[3]})
        # Complete data ends in seeding; anything else is given time to
        # finish checking before its progress is read.
        start = time.time()
        while time.time() - start < 120:
            s = h.status()
            checking = s.state in (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data)
            if s.state in (lt.torrent_status.seeding, lt.torrent_status.finished):
                break
            if not checking and time.time() - start > 5:
                break
            time.sleep(0.05)
        s = h.status()
        print(json.dumps({"progress": s.progress, "pieces": ti.num_pieces(), "have": s.num_pieces,
                          "state": str(s.state), "error": s.errc.message() if s.errc.value() else None}))
    elif cmd == "seed":
        seed(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "download":
        # Fetch a torrent into a save path with whatever it names (trackers,
        # web seeds); no DHT, no local discovery. Prints the outcome.
        ti = lt.torrent_info(sys.argv[2])
        ses = lt.session({"enable_dht": False, "enable_lsd": False, "enable_upnp": False,
                          "enable_natpmp": False, "listen_interfaces": "127.0.0.1:0"})
        h = ses.add_torrent({"ti": ti, "save_path": sys.argv[3]})
        start = time.time()
        while time.time() - start < 120:
            s = h.status()
            if s.state in (lt.torrent_status.seeding, lt.torrent_status.finished):
                break
            time.sleep(0.05)
        s = h.status()
        print(json.dumps({"progress": s.progress, "pieces": ti.num_pieces(), "have": s.num_pieces,
                          "peers": s.num_peers, "web_seeds": [w["url"] for w in ti.web_seeds()],
                          "state": str(s.state), "seconds": time.time() - start,
                          "error": s.errc.message() if s.errc.value() else None}))

    else:
        sys.exit("unknown command " + cmd)


def seed(torrent, save_path, port_file):
    import http.server
    import struct
    import threading

    ti = lt.torrent_info(torrent)
    ses = lt.session({"enable_dht": False, "enable_lsd": False, "enable_upnp": False,
                      "enable_natpmp": False, "listen_interfaces": "127.0.0.1:0",
                      "allow_multiple_connections_per_ip": True})
    h = ses.add_torrent({"ti": ti, "save_path": save_path})
    start = time.time()
    while h.status().state != lt.torrent_status.seeding:
        if time.time() - start > 60:
            sys.exit("not seeding after 60 s: " + str(h.status().state))
        time.sleep(0.05)
    peer_port = ses.listen_port()

    class Tracker(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            peers = struct.pack(">4sH", bytes([127, 0, 0, 1]), peer_port)
            body = b"d8:intervali30e5:peers6:" + peers + b"e"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Tracker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (peer_port, server.server_address[1]))
    os.rename(tmp, port_file)
    while time.time() - start < 300:
        time.sleep(0.2)


main()
