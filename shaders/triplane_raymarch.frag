#version 330 core
// Live triplane preview: ray-march the three feature planes and decode them with the triplane MLP,
// with the conventions of backend/render/ (EG3D): box [-u_box_half, u_box_half]^3, planes xy, xz, yz,
// bilinear sampling as grid_sample(align_corners=False, padding_mode="zeros"), features averaged
// over the planes, density softplus(x0 - 1), colour sigmoid(x) * 1.002 - 0.001, NeRF compositing at
// u_steps bin centres between the ray's box entry and exit (RenderConfig(n_coarse=u_steps, n_fine=0)).
//
// Output: premultiplied RGBA (accumulated colour, opacity); composite over a background with
// rgb + (1 - a) * background.
//
// Compile-time sizes (prepended as #defines by the loaders):
//   C_GROUPS       plane channels / 4 (channels zero-padded to a multiple of 4)
//   H_GROUPS       decoder hidden units / 4, a multiple of 4 (hidden zero-padded to a multiple of 16)
//   WEIGHT_VEC4S   4 * H_GROUPS * C_GROUPS + 5 * H_GROUPS + 1
// u_planes layer (plane * C_GROUPS + group) holds channels 4*group..4*group+3 of one plane as RGBA,
// (W + 2) x (H + 2) texels: the plane with a one-texel border of zeros (the zero padding).
// u_decoder.w (vec4s): W1 rows (row j at j * C_GROUPS, already divided by 3 for the mean over
// planes), then b1 (H_GROUPS), then the rows of W2 for density, r, g, b (H_GROUPS each), then
// (b2 density, b2 r, b2 g, b2 b).
//
// The interface below is plain GLSL 330; the Blender loader turns each declaration into a
// GPUShaderCreateInfo call, so keep one declaration per line.

uniform sampler2DArray u_planes;
uniform mat4 u_cam2world;
uniform vec4 u_intrinsics;
uniform int u_steps;
uniform int u_ortho;
uniform float u_box_half;
layout(std140) uniform DecoderWeights { vec4 w[WEIGHT_VEC4S]; } u_decoder;
in vec2 v_uv;
out vec4 frag_color;

#define B1_OFFSET (4 * H_GROUPS * C_GROUPS)
#define W2_OFFSET (B1_OFFSET + H_GROUPS)
#define B2_OFFSET (W2_OFFSET + 4 * H_GROUPS)

vec4 softplus(vec4 x)
{
  return max(x, 0.0) + log(1.0 + exp(-abs(x)));
}

vec4 sigmoid(vec4 x)
{
  return 1.0 / (1.0 + exp(-x));
}

/* Sum over the three planes of the bilinear samples at box point p; f[g] = channels 4g..4g+3. */
void sample_planes(vec3 p, out vec4 f[C_GROUPS])
{
  vec2 size = vec2(textureSize(u_planes, 0).xy) - 2.0; /* plane W, H */
  vec3 g = p / u_box_half;                            /* grid_sample coordinates, -1..1 */
  for (int i = 0; i < C_GROUPS; i++) {
    f[i] = vec4(0.0);
  }
  for (int k = 0; k < 3; k++) {
    vec2 c = (k == 0) ? g.xy : ((k == 1) ? g.xz : g.yz);
    vec2 pix = ((c + 1.0) * size - 1.0) * 0.5; /* align_corners=False */
    vec2 base = floor(pix);
    vec2 t = pix - base;
    /* +1: the zero border; clamping keeps taps of points just outside the box on the border. */
    ivec2 lo = clamp(ivec2(base) + 1, ivec2(0), ivec2(size) + 1);
    ivec2 hi = clamp(ivec2(base) + 2, ivec2(0), ivec2(size) + 1);
    vec4 wts = vec4((1.0 - t.x) * (1.0 - t.y), t.x * (1.0 - t.y), (1.0 - t.x) * t.y, t.x * t.y);
    for (int i = 0; i < C_GROUPS; i++) {
      int layer = k * C_GROUPS + i;
      f[i] += wts.x * texelFetch(u_planes, ivec3(lo.x, lo.y, layer), 0) +
              wts.y * texelFetch(u_planes, ivec3(hi.x, lo.y, layer), 0) +
              wts.z * texelFetch(u_planes, ivec3(lo.x, hi.y, layer), 0) +
              wts.w * texelFetch(u_planes, ivec3(hi.x, hi.y, layer), 0);
    }
  }
}

/* Row j of W1 (already divided by 3) dotted with the plane features. Written out, not looped, so
   that every weight index is a compile-time constant (a loop costs llvmpipe a gather per lane). */
float w1_row(int j, vec4 f[C_GROUPS])
{
  int b = j * C_GROUPS;
  float s = dot(u_decoder.w[b], f[0]);
#if C_GROUPS > 1
  s += dot(u_decoder.w[b + 1], f[1]);
#endif
#if C_GROUPS > 2
  s += dot(u_decoder.w[b + 2], f[2]);
#endif
#if C_GROUPS > 3
  s += dot(u_decoder.w[b + 3], f[3]);
#endif
#if C_GROUPS > 4
  s += dot(u_decoder.w[b + 4], f[4]);
#endif
#if C_GROUPS > 5
  s += dot(u_decoder.w[b + 5], f[5]);
#endif
#if C_GROUPS > 6
  s += dot(u_decoder.w[b + 6], f[6]);
#endif
#if C_GROUPS > 7
  s += dot(u_decoder.w[b + 7], f[7]);
#endif
#if C_GROUPS > 8
#error "the preview supports at most 32 plane channels"
#endif
  return s;
}

/* Hidden units 4q..4q+3: h = softplus(W1 f + b1), then x += W2 h (density, r, g, b rows). */
void hidden_group(int q, vec4 f[C_GROUPS], inout vec4 x)
{
  vec4 a = u_decoder.w[B1_OFFSET + q] +
           vec4(w1_row(4 * q, f), w1_row(4 * q + 1, f), w1_row(4 * q + 2, f), w1_row(4 * q + 3, f));
  vec4 h = softplus(a);
  x += vec4(dot(u_decoder.w[W2_OFFSET + q], h),
            dot(u_decoder.w[W2_OFFSET + H_GROUPS + q], h),
            dot(u_decoder.w[W2_OFFSET + 2 * H_GROUPS + q], h),
            dot(u_decoder.w[W2_OFFSET + 3 * H_GROUPS + q], h));
}

#define FOUR_GROUPS(q) hidden_group(q, f, x); hidden_group(q + 1, f, x); hidden_group(q + 2, f, x); hidden_group(q + 3, f, x);

/* The field at box point p: (density, r, g, b). */
vec4 decode(vec3 p)
{
  vec4 f[C_GROUPS];
  sample_planes(p, f);
  vec4 x = u_decoder.w[B2_OFFSET];
  FOUR_GROUPS(0)
#if H_GROUPS > 4
  FOUR_GROUPS(4)
#endif
#if H_GROUPS > 8
  FOUR_GROUPS(8)
#endif
#if H_GROUPS > 12
  FOUR_GROUPS(12)
#endif
#if H_GROUPS > 16
  FOUR_GROUPS(16)
#endif
#if H_GROUPS > 20
  FOUR_GROUPS(20)
#endif
#if H_GROUPS > 24
  FOUR_GROUPS(24)
#endif
#if H_GROUPS > 28
  FOUR_GROUPS(28)
#endif
#if H_GROUPS > 32
#error "the preview supports at most 128 hidden units"
#endif
  float density = softplus(vec4(x.x - 1.0)).x;
  vec3 rgb = sigmoid(vec4(x.yzw, 0.0)).xyz * 1.002 - 0.001;
  return vec4(density, rgb);
}

void main()
{
  /* The pixel's ray (rays.generate_rays): u right, v down, OpenCV camera. */
  vec2 uv = vec2(v_uv.x, 1.0 - v_uv.y);
  vec2 xy = (uv - u_intrinsics.zw) / u_intrinsics.xy;
  mat3 rot = mat3(u_cam2world);
  vec3 o = u_cam2world[3].xyz;
  vec3 d;
  if (u_ortho != 0) {
    o += rot * vec3(xy, 0.0);
    d = normalize(rot[2]);
  }
  else {
    d = normalize(rot * vec3(xy, 1.0));
  }

  /* Slab test (rays.ray_box_intersection). */
  vec3 dd = mix(d, vec3(1e-9), lessThan(abs(d), vec3(1e-9)));
  vec3 t0 = (-u_box_half - o) / dd;
  vec3 t1 = (u_box_half - o) / dd;
  vec3 tmin = min(t0, t1);
  vec3 tmax = max(t0, t1);
  float near = max(max(max(tmin.x, tmin.y), tmin.z), 0.0);
  float far = min(min(tmax.x, tmax.y), tmax.z);
  if (!(far > near)) {
    frag_color = vec4(0.0);
    return;
  }

  /* Bin centres (volume.stratified_depths) and NeRF compositing (volume.composite). */
  float n = float(u_steps);
  vec3 rgb = vec3(0.0);
  float opacity = 0.0;
  float trans = 1.0;
  float t = near + (far - near) * (0.5 / n);
  for (int i = 0; i < u_steps; i++) {
    float t_next = near + (far - near) * ((float(i) + 1.5) / n);
    float delta = (i + 1 < u_steps) ? t_next - t : max(far - t, 0.0);
    vec4 s = decode(o + d * t);
    float alpha = 1.0 - exp(-s.x * delta);
    float weight = alpha * trans;
    rgb += weight * s.yzw;
    opacity += weight;
    trans *= 1.0 - alpha + 1e-10;
    if (trans < 1e-4) {
      break; /* what is left behind adds at most 1e-4 */
    }
    t = t_next;
  }
  frag_color = vec4(rgb, opacity);
}
