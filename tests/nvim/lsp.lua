-- Neovim's own LSP client (vim.lsp, Neovim 0.7 and later) driving
-- `xmacro lsp` headless, for tests/it/lsp.rs: it opens
-- $PROJECT/scripts/room.rhai, attaches the server ($XMACRO_BIN lsp), and
-- prints one line per result to stdout: diagnostics, completion, hover,
-- definition, diagnostics after a fix, and whether the server stopped.
-- Every wait is bounded.
local function out(s) io.stdout:write(s .. "\n") end
local bin, root = os.getenv('XMACRO_BIN'), os.getenv('PROJECT')
vim.cmd('edit ' .. root .. '/scripts/room.rhai')
local buf = vim.api.nvim_get_current_buf()
local id = vim.lsp.start_client({ name = 'xmacro', cmd = { bin, 'lsp' }, root_dir = root })
vim.lsp.buf_attach_client(buf, id)

vim.wait(20000, function() return #vim.diagnostic.get(buf) > 0 end, 20)
for _, d in ipairs(vim.diagnostic.get(buf)) do
  out(string.format('diagnostic %d:%d-%d:%d %s', d.lnum, d.col, d.end_lnum, d.end_col, d.message))
end

local uri = vim.uri_from_bufnr(buf)
local function ask(method, line, character)
  local res = vim.lsp.buf_request_sync(buf, method,
    { textDocument = { uri = uri }, position = { line = line, character = character } }, 20000)
  for _, r in pairs(res or {}) do return r.result end
end

-- A line being typed: `xapi.Status.Audio.` (the buffer changes, as typing does).
vim.api.nvim_buf_set_lines(buf, 3, 3, false, { 'let w = xapi.Status.Audio.' })
local items = ask('textDocument/completion', 3, 26) or {}
local labels = {}
for _, item in ipairs(items.items or items) do table.insert(labels, item.label) end
out('completion ' .. table.concat(labels, ' '))
vim.api.nvim_buf_set_lines(buf, 3, 4, false, {})

local h = ask('textDocument/hover', 0, 22)
out('hover ' .. (h and h.contents.value or 'nil'):gsub('\n', ' | '))
local d = ask('textDocument/definition', 1, 10)
out('definition ' .. (d and (d.uri or (d[1] and d[1].uri)) or 'nil'))

vim.api.nvim_buf_set_lines(buf, 0, 1, false, { 'let v = xapi.Status.Audio.Volume.get();' })
vim.api.nvim_buf_set_lines(buf, 2, 3, false, { 'xapi.Command.Audio.Volume.Set(#{ Level: 100 });' })
vim.wait(20000, function() return #vim.diagnostic.get(buf) == 0 end, 20)
out('diagnostics after the fix ' .. #vim.diagnostic.get(buf))

vim.lsp.stop_client(id)
vim.wait(10000, function() return vim.lsp.get_client_by_id(id) == nil end, 20)
out('stopped ' .. tostring(vim.lsp.get_client_by_id(id) == nil))
vim.cmd('qa!')
