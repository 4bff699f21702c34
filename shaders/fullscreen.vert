#version 330 core
// One triangle that covers the viewport: pos in {(-1,-1), (3,-1), (-1,3)}.
// v_uv runs 0..1 across the viewport (x right, y up), so at a fragment it is the pixel centre.

in vec2 pos;
out vec2 v_uv;

void main()
{
  v_uv = pos * 0.5 + 0.5;
  gl_Position = vec4(pos, 0.0, 1.0);
}
