;; A WAGI handler: `lucet-serve examples/hello.wat`, then
;; `curl http://127.0.0.1:8080/` prints "Hello from Lucet!". It writes a CGI
;; response (a header block, a blank line, the body) to standard output.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; The iovec at 0: the response at 16, 44 bytes long.
  (data (i32.const 0) "\10\00\00\00\2c\00\00\00")
  (data (i32.const 16) "Content-Type: text/plain\n\nHello from Lucet!\n")
  (func (export "_start")
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
