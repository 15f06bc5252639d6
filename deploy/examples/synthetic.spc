# Example connections of the bundled synthetic plugin: 300 connections, each with
# `tables` tables of `columns` columns and 10 generated rows per table.

connection "team_001" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_002" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_003" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_004" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_005" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_006" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_007" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_008" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_009" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_010" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_011" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_012" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_013" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_014" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_015" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_016" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_017" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_018" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_019" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_020" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_021" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_022" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_023" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_024" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_025" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_026" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_027" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_028" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_029" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_030" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_031" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_032" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_033" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_034" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_035" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_036" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_037" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_038" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_039" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_040" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_041" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_042" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_043" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_044" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_045" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_046" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_047" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_048" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_049" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_050" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_051" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_052" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_053" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_054" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_055" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_056" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_057" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_058" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_059" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_060" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_061" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_062" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_063" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_064" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_065" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_066" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_067" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_068" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_069" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_070" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_071" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_072" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_073" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_074" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_075" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_076" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_077" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_078" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_079" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_080" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_081" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_082" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_083" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_084" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_085" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_086" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_087" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_088" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_089" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_090" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_091" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_092" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_093" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_094" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_095" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_096" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_097" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_098" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_099" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_100" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_101" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_102" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_103" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_104" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_105" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_106" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_107" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_108" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_109" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_110" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_111" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_112" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_113" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_114" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_115" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_116" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_117" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_118" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_119" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_120" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_121" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_122" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_123" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_124" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_125" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_126" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_127" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_128" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_129" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_130" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_131" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_132" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_133" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_134" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_135" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_136" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_137" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_138" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_139" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_140" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_141" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_142" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_143" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_144" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_145" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_146" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_147" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_148" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_149" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_150" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_151" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_152" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_153" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_154" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_155" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_156" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_157" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_158" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_159" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_160" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_161" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_162" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_163" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_164" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_165" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_166" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_167" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_168" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_169" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_170" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_171" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_172" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_173" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_174" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_175" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_176" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_177" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_178" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_179" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_180" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_181" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_182" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_183" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_184" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_185" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_186" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_187" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_188" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_189" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_190" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_191" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_192" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_193" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_194" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_195" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_196" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_197" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_198" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_199" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_200" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_201" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_202" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_203" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_204" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_205" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_206" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_207" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_208" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_209" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_210" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_211" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_212" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_213" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_214" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_215" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_216" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_217" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_218" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_219" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_220" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_221" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_222" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_223" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_224" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_225" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_226" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_227" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_228" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_229" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_230" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_231" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_232" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_233" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_234" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_235" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_236" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_237" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_238" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_239" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_240" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_241" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_242" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_243" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_244" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_245" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_246" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_247" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_248" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_249" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_250" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_251" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_252" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_253" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_254" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_255" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_256" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_257" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_258" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_259" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_260" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_261" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_262" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_263" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_264" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_265" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_266" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_267" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_268" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_269" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_270" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_271" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_272" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_273" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_274" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_275" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_276" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_277" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_278" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_279" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_280" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_281" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_282" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_283" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_284" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_285" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_286" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_287" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_288" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_289" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_290" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_291" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_292" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_293" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_294" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_295" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}

connection "team_296" {
  plugin  = "synthetic"
  tables  = 4
  columns = 6
}

connection "team_297" {
  plugin  = "synthetic"
  tables  = 5
  columns = 6
}

connection "team_298" {
  plugin  = "synthetic"
  tables  = 6
  columns = 6
}

connection "team_299" {
  plugin  = "synthetic"
  tables  = 7
  columns = 6
}

connection "team_300" {
  plugin  = "synthetic"
  tables  = 3
  columns = 6
}
